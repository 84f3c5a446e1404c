"""Every error the assistant raises, under one base; str() is one line a user can act on."""


class AssistantError(Exception):
    """Base of all assistant errors."""


class ConfigError(AssistantError):
    """A config file or value is invalid; the message names the field."""


class CredentialMissing(AssistantError):
    """A secret file or systemd credential is not there."""


class CredentialFileTooOpen(AssistantError):
    """A secret file is readable by others than its owner."""


class ToolInputInvalid(AssistantError):
    """A tool was called with an argument it cannot use; the message says which and why."""


class UpstreamUnavailable(AssistantError):
    """A service a tool server calls (SearXNG, Google, a web page) did not answer usefully."""


class FetchRefused(AssistantError):
    """fetch_url refused a URL: a non-public address, a non-text type, or too many redirects."""


class GoogleAuthRequired(AssistantError):
    """The Google token is missing, expired, revoked or lacks a scope; `assistant auth google` fixes it."""


class NotFound(AssistantError):
    """A calendar, event, message, thread, draft or label id does not exist."""


class RecipientNotAllowed(AssistantError):
    """A mail or invitation would go to an address outside the configured allow-list."""


class UpstreamError(AssistantError):
    """swapd or llama-server refused or failed a request."""


class UpstreamUnreachable(UpstreamError):
    """swapd could not be reached at all, or did not answer in time."""


class StreamCut(AssistantError):
    """A streamed reply ended before the model finished it."""


class StreamStalled(AssistantError):
    """A streamed reply sent nothing for longer than the idle timeout."""


class ToolFailed(AssistantError):
    """A tool call could not be carried out (unknown tool, bad arguments, timeout, server died)."""


class SwapdControlError(AssistantError):
    """swapd's control API refused a request or could not be reached."""


class DiscordLoginFailed(AssistantError):
    """Discord refused the bot's token, or a privileged intent the bot needs is not enabled."""
