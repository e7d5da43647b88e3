"""Errors the harness turns into exit codes."""


class UserInputError(Exception):
    """Bad input from the user (config, option, data path): exit code 2, nothing written."""


class ConfigError(UserInputError):
    """A config file is missing, unparsable or does not match the schema."""


class EngineUnavailableError(UserInputError):
    """The engine, backend or device a config asks for cannot run on this machine."""
