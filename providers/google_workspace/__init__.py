"""Google Workspace users through the Admin SDK Directory API."""
