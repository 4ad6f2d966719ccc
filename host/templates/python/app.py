"""`{{name}}`: pins new bindings to the newest revision; every other
decision is Kratix's (the SDK's defaults)."""

from kbind_policy import Policy, pin_to_newest, policy_info


class Decisions(Policy):
    def metadata(self):
        return policy_info("{{name}}", "0.1.0", "pins new bindings to the newest revision")

    def initial_version(self, input):
        return pin_to_newest(input)
