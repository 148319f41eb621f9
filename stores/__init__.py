"""Object-storage backends for the journal and reports (`sweeper.store.ObjectStore`), one per scheme.

Each imports its cloud SDK and nothing else from outside the core; `sweeper.registry` finds them by
URL scheme and imports them only when a `s3://`, `gs://`, `az://` or `memory://` URL is used.
"""
