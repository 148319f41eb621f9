"""AWS IAM: console passwords and access keys from the credential report, and roles (#17).

`PROVIDER` is what the core knows about this provider (entry point `identity_sweeper.providers`:
`aws`); this module imports no SDK.
"""

from sweeper.model import CredentialKind
from sweeper.registry import Control, ProviderInfo

# CIS AWS Foundations v3.0.0, 1.12: "Ensure credentials unused for 45 days or greater are disabled". A finding
# carries it only when its threshold is 45 days or less (the 90-day default does not satisfy it).
_CIS = Control("CIS AWS v3.0.0 1.12 (45 days)", "CIS Amazon Web Services Foundations Benchmark v3.0.0", max_days=45)
_COMMON = (Control("NIST 800-53 AC-2(3)", "NIST SP 800-53 Rev. 5"), Control("SOC 2 CC6.2", "AICPA TSC 2017"),
           Control("ISO 27001 A.5.18", "ISO/IEC 27001:2022"))
# Roles: no CIS AWS Foundations recommendation (v3.0.0 or v4.0.1) covers unused roles; 1.12 is about IAM users'
# passwords and access keys. Role findings carry the common controls only.

PROVIDER = ProviderInfo(
    name="aws",
    display="AWS IAM",
    settings="providers.aws_iam.settings:AwsSettings",
    adapter="providers.aws_iam.adapter:AwsIamAdapter",
    install_hint="pip install boto3",
    credential_kinds=(CredentialKind.CONSOLE_PASSWORD, CredentialKind.ACCESS_KEY, CredentialKind.ROLE),
    controls={CredentialKind.ACCESS_KEY: (_CIS, *_COMMON), CredentialKind.CONSOLE_PASSWORD: (_CIS, *_COMMON),
              CredentialKind.ROLE: _COMMON},
    irreversible={CredentialKind.CONSOLE_PASSWORD: "the console password was deleted; set a new one "
                                                   "(CreateLoginProfile)"},
    # opt-in removal (#13): what the apply job deletes, and that it cannot be undone
    removal={CredentialKind.ACCESS_KEY: "deletes the deactivated access key (DeleteAccessKey): the key id is "
                                        "gone, so it cannot be restored; create a new key if it is needed"},
    removal_irreversible=frozenset({CredentialKind.ACCESS_KEY}),
    root_protection="the AWS root account is never touched",
    docs_intro="The sweeper reads one credential report and the authorization details of each account, then "
               "re-reads only the candidates live. Give the plan job (and `check`, `notify`) the read-only policy "
               "and only the apply job the one that writes. The report is read in the format the IAM User Guide "
               "documents (its booleans `TRUE`/`FALSE` or, as AWS serves them, `true`/`false`); a value it "
               "cannot read makes that credential unknown, never unused.\n\n"
               "Binding: set `account_id`, and with an organization `organization.management_account_id` (and "
               "`organization.org_id`). The sweeper compares them with `sts:GetCallerIdentity` and "
               "`organizations:DescribeOrganization` before it lists anything, and stops with exit 2 on a "
               "mismatch.\n\n"
               "Role sessions: every AssumeRole (`role_arn` and the member roles) passes an inline session "
               "policy that allows only the actions below for the job's mode, so a plan job cannot write even "
               "through a role that could, and names its session `identity-sweeper-<run id>` as both "
               "`RoleSessionName` and `SourceIdentity`. The trust policy of every role the sweeper assumes must "
               "therefore allow `sts:SetSourceIdentity` as well as `sts:AssumeRole`, and with `role_arn` the "
               "identity the job starts as needs both actions on that role. Credentials that already carry "
               "another source identity (set by your identity provider) cannot assume with a new one: AWS "
               "refuses it, and the sweeper says so.\n\n"
               "Roles (`roles = true`, the default): each IAM role is a machine identity with one `role` "
               "credential, read from the same authorization-detail pages (nothing per role) and judged by its "
               "`RoleLastUsed` with `role_inactive_days` (else `inactive_days`). IAM reports role use for the "
               "trailing 400 days only (RoleLastUsed, IAM API Reference): a role with no last use on record is "
               "judged by its creation date like a never-used key, so `role_inactive_days` is at most 400. "
               "Never touched: service-linked roles (path `/aws-service-role/`: skipped, and counted in the "
               "account's message), IAM Identity Center's roles (path `/aws-reserved/sso.amazonaws.com/`), the "
               "roles the sweeper runs as or assumes (`role_arn`, `organization.role_name` in every account, the "
               "roles of `accounts`, the role of its own session) and roles matched by `exclude` or "
               "`exclude_tags`. `owner_tags` name a role's owner as they do a user's. `role_action = \"report\"` "
               "(the default) only reports stale roles; `\"deny\"` attaches the deny-all policy described "
               "below, which `restore` removes. A denied role can still be assumed, but its sessions can do "
               "nothing. Roles are capped among machine identities, apart from people. The organization's "
               "`OrganizationAccountAccessRole` is rarely used and so often looks stale: keep it with "
               "`exclude = [\"OrganizationAccountAccessRole\"]` unless you mean to deny it. No CIS AWS "
               "Foundations recommendation covers unused roles (1.12 is about users' passwords and keys): role "
               "findings carry NIST 800-53 AC-2(3), SOC 2 CC6.2 and ISO 27001 A.5.18.",)
