"""What every adapter does, written once: retries under a budget (`retry`), HTTP status to typed
errors (`status`), timestamps (`times`), secret scrubbing (`secrets`) and the shared retry/timeout
settings (`settings`). Adapters keep paging, mapping and their SDK's specifics.

Like the rest of the core, nothing here imports a cloud SDK or a provider.
"""
