"""Microsoft Entra ID users through Microsoft Graph."""
