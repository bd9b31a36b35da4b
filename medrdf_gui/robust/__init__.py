"""The MedRDF robust-inference engine (no Qt): noises, denoisers, vote and test, Result."""

from .denoise import GaussianSmoothing, MedianFilter, NoDenoiser, make_denoiser, symmetric_pad
from .device import available_devices, describe_device, resolve_device
from .engine import VoteSampler, robust_predict
from .errors import Cancelled, EngineError, SettingsError
from .noise import GaussianNoise, PoissonNoise, RandomResizePad, RandomRotation, SaltPepperNoise, make_noise
from .result import Result, format_p_value
from .settings import DENOISERS, NOISES, SAMPLING, RobustSettings, default_threshold, minimum_n
from .vote import VoteOutcome, certified_radius, clopper_pearson_lower, decide, hoeffding_lower, robust_metric

__all__ = [
    "DENOISERS", "NOISES", "SAMPLING", "Cancelled", "EngineError", "GaussianNoise", "GaussianSmoothing", "MedianFilter",
    "NoDenoiser", "PoissonNoise", "RandomResizePad", "RandomRotation", "Result", "RobustSettings", "SaltPepperNoise", "SettingsError", "VoteOutcome",
    "VoteSampler", "available_devices", "describe_device", "format_p_value", "certified_radius", "clopper_pearson_lower", "decide", "default_threshold",
    "hoeffding_lower", "make_denoiser", "make_noise", "minimum_n", "resolve_device", "robust_metric",
    "robust_predict", "symmetric_pad",
]
