// `{{name}}`: pins new bindings to the newest revision; every other decision
// is Kratix's (the SDK's defaults).
import { definePolicy, pinToNewest, policyInfo } from '@kbind/policy-sdk';

export const decisions = definePolicy({
  metadata() {
    return policyInfo('{{name}}', '0.1.0', 'pins new bindings to the newest revision');
  },
  initialVersion(input) {
    return pinToNewest(input);
  },
});
