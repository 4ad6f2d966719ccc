// The component's entry: wires the host's log import into the SDK and
// exports the policy. `policy.js` stays importable by node for unit tests.
import { log } from 'kbind:policy/host@0.2.0';
import { useHostLog } from '@kbind/policy-sdk';

useHostLog(log);

export { decisions } from './policy.js';
