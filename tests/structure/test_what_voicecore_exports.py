"""``import voicecore`` exports every error a caller can catch, and no test double.

The errors are found by walking the package (every module but the test doubles in
``voicecore.testing`` and Alembic's migration scripts, which run only under Alembic) and the
exception tree below ``VoiceCoreError``: a new error that is not exported fails here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import voicecore
from voicecore import VoiceCoreError


def package_modules() -> list[str]:
    return [
        found.name
        for found in pkgutil.walk_packages(voicecore.__path__, "voicecore.")
        if not found.name.startswith("voicecore.testing") and ".migrations" not in found.name
    ]


def errors_defined_in_the_package() -> dict[str, type[BaseException]]:
    errors: dict[str, type[BaseException]] = {}
    for name in package_modules():
        module = importlib.import_module(name)
        for attribute, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and not attribute.startswith("_")
            ):
                errors[attribute] = value
    return errors


def subclasses(root: type[BaseException]) -> set[type[BaseException]]:
    below = set(root.__subclasses__())
    return below.union(*(subclasses(cls) for cls in below))


def test_every_error_of_the_package_is_exported() -> None:
    errors = errors_defined_in_the_package()
    assert "UsageExhausted" in errors  # the walk reaches the core
    assert "SettingsError" in errors  # and the settings
    assert {name for name in errors if name not in voicecore.__all__} == set()
    for name, error in errors.items():
        assert getattr(voicecore, name) is error


def test_every_error_below_voicecore_error_is_exported() -> None:
    package_errors = {cls for cls in subclasses(VoiceCoreError) if cls.__module__.startswith("voicecore.")}
    outside_the_doubles = {
        cls for cls in package_errors if not cls.__module__.startswith("voicecore.testing")
    }
    assert {
        cls.__name__ for cls in outside_the_doubles if getattr(voicecore, cls.__name__, None) is not cls
    } == set()


def test_no_test_double_is_exported() -> None:
    exported = {getattr(voicecore, name) for name in voicecore.__all__ if name != "__version__"}
    assert all(not getattr(value, "__module__", "").startswith("voicecore.testing") for value in exported)
