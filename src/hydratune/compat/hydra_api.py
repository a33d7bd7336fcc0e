"""Hydra's private APIs: applying overrides and naming their dir as its config loader does, the
plugin registry's names, ``choice(..., null)``, a job's error, logging set-up and flushing, and
the import of a dotted name.
"""

from __future__ import annotations

from typing import Any


def hydra_plugin_alias(cls: type, registered_as: str) -> type:
    """``cls`` renamed so that Hydra's plugin registry finds it as ``registered_as`` (a dotted
    class path under ``hydra_plugins``) while ``instantiate`` still imports the real class.

    Hydra registers a plugin as ``f"{__module__}.{__name__}"`` (``Plugins._register``) and
    ``instantiate(..., _target_=cls)`` imports ``f"{__module__}.{__qualname__}"``
    (``_convert_target_to_string``); the class must stay an attribute of its own module.
    """
    real = f"{cls.__module__}.{cls.__qualname__}"
    cls.__module__ = "hydra_plugins"
    cls.__name__ = registered_as.removeprefix("hydra_plugins.")
    cls.__qualname__ = real.removeprefix("hydra_plugins.")
    return cls


def hydra_choice(*args: Any) -> Any:
    """Hydra's grammar function ``choice`` (``hydra._internal.grammar.grammar_functions``), to
    register a ``choice`` that admits ``null`` among its options."""
    from hydra._internal.grammar.grammar_functions import choice

    return choice(*args)


hydra_choice.__annotations__ = {"args": Any, "return": Any}  # Hydra type-checks by these


def admit_null_in_hydra_choice() -> None:
    """Every override parser Hydra creates takes ``choice(a, b, null)``, as hydratune's own does.

    Hydra parses the command line before any sweeper sees it (``ConfigLoaderImpl`` calls
    ``OverridesParser.create()``, which builds its functions with
    ``overrides_parser.create_functions``), and its ``choice`` is typed to refuse ``None``. So
    the plugin module wraps that module function once: the same grammar in YAML and on the
    command line. It only admits what was refused; Hydra's basic sweeper then runs ``key=null``.
    """
    from hydra.core.override_parser import overrides_parser

    original = overrides_parser.create_functions
    if getattr(original, "admits_null_choice", False):
        return

    def create_functions() -> Any:
        functions = original()
        del functions.definitions["choice"]
        functions.register(name="choice", func=hydra_choice)
        return functions

    create_functions.admits_null_choice = True  # type: ignore[attr-defined]
    overrides_parser.create_functions = create_functions


def apply_overrides(cfg: Any, overrides: list[Any]) -> None:
    """Apply parsed value overrides to ``cfg`` exactly as Hydra applies command-line ones
    (``ConfigLoaderImpl._apply_overrides_to_config``)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl._apply_overrides_to_config(overrides, cfg)


def overrides_dirname(
    overrides: list[Any], exclude_keys: list[str], item_sep: str, kv_sep: str
) -> str:
    """Hydra's ``hydra.job.override_dirname`` (``hydra._internal.config_loader_impl``)."""
    from hydra._internal.config_loader_impl import get_overrides_dirname

    return get_overrides_dirname(
        overrides=overrides, exclude_keys=exclude_keys, item_sep=item_sep, kv_sep=kv_sep
    )


def job_error(ret: Any) -> BaseException:
    """The exception of a failed Hydra ``JobReturn`` without re-raising it
    (``JobReturn._return_value``; the public ``return_value`` raises it)."""
    return ret._return_value


def locate(path: str) -> Any:
    """What the dotted ``path`` names, imported as ``hydra.utils.get_method`` does (Hydra's
    ``_locate``), without its error log: the caller says what went wrong, once."""
    from hydra._internal.utils import _locate

    return _locate(path)


def flush_loggers() -> None:
    """Flush every logging handler, as Hydra's ``run_job`` does before ``on_job_end`` (Hydra's
    private ``hydra.core.utils._flush_loggers``: logging has no public way to reach them all),
    so a job's log file is complete when its callbacks read it."""
    from hydra.core.utils import _flush_loggers

    _flush_loggers()


def configure_logging(conf: dict[str, Any]) -> None:
    """Hydra's ``configure_log`` on a resolved config (recent 1.3: checks handler targets)."""
    try:
        from hydra._internal.logging_config import configure_logging as configure
    except ImportError:
        from logging.config import dictConfig as configure
    configure(conf)


# The target of Hydra's default launcher (``hydra/launcher: basic``), which lives in
# ``hydra._internal``: the launcher a sweep gets when the user selects none.
BASIC_LAUNCHER_TARGET = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def compose_from_sources(sources: list[Any], config_name: str, overrides: list[str]) -> Any:
    """The config Hydra composes for a run of ``config_name`` with ``overrides`` on a search
    path of ``sources`` (a job's saved ``hydra.runtime.config_sources``, in order), without its
    ``hydra`` node: Hydra's own ``ConfigLoaderImpl``, so defaults lists, packages and
    interpolations compose as they did for that job. Raises what Hydra raises."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
    from hydra.core.plugins import Plugins
    from hydra.types import RunMode
    from omegaconf import open_dict

    Plugins.instance()  # registers the config sources' schemes (file, pkg, structured)
    search_path = ConfigSearchPathImpl()
    for source in sources:
        search_path.append(source["provider"], f"{source['schema']}://{source['path']}")
    loader = ConfigLoaderImpl(config_search_path=search_path)
    config = loader.load_configuration(config_name, overrides, run_mode=RunMode.RUN)
    with open_dict(config):
        del config["hydra"]
    return config
