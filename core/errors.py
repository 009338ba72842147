"""Errors that Portrait Studio reports to users: each message says what was wrong and what to do."""


class PortraitStudioError(Exception):
    """Base class of every error the app, the CLI and the library report to a user."""


class ImageDecodeError(PortraitStudioError, ValueError):
    """The input is not a readable image (empty, truncated, not an image, unsupported)."""


class ImageTooLargeError(PortraitStudioError, ValueError):
    """The image has more pixels than the configured limit."""


class WeightsError(PortraitStudioError):
    """Model weights are missing, corrupt, tampered with, or not a U²-Net checkpoint."""


class WeightsUnavailableError(WeightsError):
    """Weights are not on disk and could not be downloaded (e.g. no network)."""


class SettingsError(PortraitStudioError, ValueError):
    """A setting is out of range or of the wrong kind."""
