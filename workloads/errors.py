"""Errors a user can cause through a workload's inputs."""


class WorkloadError(Exception):
    """A workload asked for does not exist or was given options it does not take."""


class DatasetError(WorkloadError):
    """A data set file is missing, corrupt or malformed; the message names the file."""
