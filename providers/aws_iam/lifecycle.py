"""Removal (#13, opt-in): an access key this sweeper deactivated, and that stayed inactive and unused,
is deleted with DeleteAccessKey. Irreversible: the key id is gone, and `restore` says so.

Only a key named by its AccessKeyId is ever deleted, never a credential report slot (`access_key_N`):
the core finds candidates by the key id its journal recorded when it deactivated the key. Right
before the delete the key is read again by that id (ListAccessKeys of its user): it must still
exist, still be Inactive and not be the key the sweeper runs as. Console passwords were deleted when
they were disabled, and users themselves are never deleted.
"""

from __future__ import annotations

from typing import Any

from providers.aws_iam.errors import BOTO_ERRORS, code_of, translate
from providers.aws_iam.keys import key_now
from sweeper.model import Action, CredentialKind, CredentialRef, Outcome

PERMISSION = "iam:DeleteAccessKey"
CANNOT_UNDO = ("a deleted access key cannot be brought back (its id is gone): create a new one "
               "(CreateAccessKey) if it is needed again")


def apply_one(iam: Any, action: Action, ref: CredentialRef, caller_key: str | None) -> Outcome:
    """REMOVE (delete the key) or UNDELETE (impossible: said, not attempted) for one ref."""
    if action is Action.UNDELETE:
        return Outcome(ref, False, CANNOT_UNDO)
    if ref.kind is not CredentialKind.ACCESS_KEY:
        return Outcome(ref, False, f"AWS removes access keys only, not a {ref.kind.value.replace('_', ' ')} "
                                   "(console passwords are deleted when they are disabled)")
    key_id = ref.credential_id
    if key_id.startswith("access_key_"):
        return Outcome(ref, False, "refusing to delete a credential report slot: only a key named by its "
                                   "AccessKeyId, read live, is deleted")
    if key_id == caller_key:
        return Outcome(ref, False, "refusing to delete the access key the sweeper runs with")
    current = key_now(iam, ref, key_id)  # by id, right before the delete
    if current is None:
        return Outcome(ref, True, note=f"access key {key_id} already gone")
    if current.enabled:
        return Outcome(ref, False, f"access key {key_id} is Active again: not deleted")
    try:
        iam.delete_access_key(UserName=ref.login, AccessKeyId=key_id)
    except BOTO_ERRORS as err:
        if code_of(err) == "NoSuchEntity":
            return Outcome(ref, True, note=f"access key {key_id} already gone")
        raise translate(err, f"delete {ref.login} {key_id}", PERMISSION) from err
    return Outcome(ref, True, note=f"access key {key_id} deleted (irreversible)")
