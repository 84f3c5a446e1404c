"""Every error the assistant raises, under one base; str() is one line a user can act on."""


class AssistantError(Exception):
    """Base of all assistant errors."""


class ConfigError(AssistantError):
    """A config file or value is invalid; the message names the field."""


class CredentialMissing(AssistantError):
    """A secret file or systemd credential is not there."""


class CredentialFileTooOpen(AssistantError):
    """A secret file is readable by others than its owner."""
