"""The guardrails as plain functions over resources (`rules`, `types`), evaluated per stack
(`settings`) by `modelstack check` and wrapped by the CrossGuard pack in policies/; `facts` is
what a Webservice tells them about itself. Light on purpose: the pack's process loads it alone."""
