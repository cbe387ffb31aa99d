"""Config hardening: a twin.toml that is not UTF-8 is one clear error in every command, and the
environment overlay (pydantic-settings) keeps each value as its field's type."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from twin.cli import build_app
from twin.config import load_config
from twin.errors import ConfigError

TOML = '[owner]\nnames = ["林"]\n\n[persona]\nname = "林一"\ndescription = "Café owner in Zürich"\n'


@pytest.mark.parametrize("encoding", ["gbk", "latin-1"])
def test_a_toml_not_saved_as_utf8_is_one_clear_error(tmp_path, encoding):
    path = tmp_path / "twin.toml"
    text = TOML if encoding == "gbk" else TOML.replace("林一", "Lin").replace("林", "Lin")
    path.write_bytes(text.encode(encoding))
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert str(path) in message and "not UTF-8" in message and "re-save it as UTF-8" in message
    assert message.startswith(f"{path}:{2 if encoding == 'gbk' else 6}:")  # the line of the first bad byte


def test_a_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "twin.toml"
    path.write_bytes(TOML.encode("utf-8-sig"))
    assert load_config(path, env={}).persona.name == "林一"


# options a command checks before it reads its config; {file} is a file that exists
EXTRA_ARGS = {"eval recall": ["--qa", "{file}"], "eval run": ["--qa", "{file}"]}


def _config_commands():
    def walk(command, prefix: list[str]):  # typer ships its own click: duck-typed
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, prefix + [name])
        elif any("--config" in p.opts for p in command.params):
            yield prefix, command

    return list(walk(typer.main.get_command(build_app()), []))


def test_every_command_reports_a_non_utf8_config_in_one_line(tmp_path):
    bad = tmp_path / "twin.toml"
    bad.write_bytes(TOML.encode("gbk"))
    existing = tmp_path / "input.txt"
    existing.write_text("x", encoding="utf-8")
    commands = _config_commands()
    assert len(commands) >= 8
    runner = CliRunner()
    for words, command in commands:
        if words == ["adapter", "merge"]:  # accepts --config but never reads it (finetune/cli.py)
            continue
        args = [*words, "--config", str(bad), *(a.format(file=existing) for a in EXTRA_ARGS.get(" ".join(words), []))]
        for param in command.params:  # arguments and required options get a file that exists
            if param.param_type_name == "argument":
                args.append(str(existing))
            elif param.required:
                args += [param.opts[0], str(existing)]
        result = runner.invoke(build_app(), args, env={"COLUMNS": "400"})
        out = result.output
        assert result.exit_code == 2, (words, out, result.exception)
        assert "not UTF-8" in out and "Traceback" not in out and "UnicodeDecodeError" not in out, (words, out)


def test_environment_keeps_strings_as_strings_and_parses_the_rest(tmp_path):
    path = tmp_path / "twin.toml"
    path.write_text("[service]\nport = 8001\nbackend = 'echo'\n", encoding="utf-8")
    cfg = load_config(path, env={
        "TWIN_SERVICE__BACKEND_API_KEY": "12345",  # was refused: JSON made it the number 12345
        "TWIN_PERSONA__NAME": "007",
        "TWIN_SERVICE__PORT": "9009",
        "TWIN_SERVICE__ALLOW_NO_AUTH": "true",
        "TWIN_SERVICE__REQUEST_LOG_DAYS": "null",
        "TWIN_OWNER__NAMES": '["a", "b"]',
        "TWIN_DATASET__SPLIT": "[0.8, 0.1, 0.1]",
        "TWIN_TRAIN__TARGET_MODULES": "all-linear",
        "TWIN_INGEST__PII__PHONE": "false",
        "TWIN_REQUIRE_ALL": "1",  # TWIN_ variables without a section are not config
    })
    assert cfg.service.backend_api_key == "12345" and cfg.persona.name == "007"
    assert cfg.service.port == 9009 and cfg.service.allow_no_auth is True and cfg.service.request_log_days is None
    assert cfg.owner.names == ["a", "b"] and cfg.dataset.split == (0.8, 0.1, 0.1)
    assert cfg.train.target_modules == "all-linear" and cfg.ingest.pii.phone is False
    assert load_config(path, env={"TWIN_TRAIN__TARGET_MODULES": '["q_proj"]'}).train.target_modules == ["q_proj"]


def test_precedence_defaults_file_environment(tmp_path):
    path = tmp_path / "twin.toml"
    path.write_text("[service]\nport = 8001\nmodel_name = 'lin'\n", encoding="utf-8")
    cfg = load_config(path, env={"TWIN_SERVICE__PORT": "9009"})
    assert cfg.service.port == 9009  # environment over file
    assert cfg.service.model_name == "lin"  # file over default
    assert cfg.service.fallback_context_tokens == 2048  # default


@pytest.mark.parametrize(("env", "expected"), [
    ({"TWIN_SERVICE__PROT": "1"}, r"TWIN_SERVICE__PROT: service\.prot: unknown key"),
    ({"TWIN_SERVIC__PORT": "1"}, r"TWIN_SERVIC__PORT: unknown section 'servic'"),
    ({"TWIN_SERVICE__PORT": "abc"}, r"TWIN_SERVICE__PORT: service\.port: .*integer"),
    ({"TWIN_OWNER__NAMES": "Lin"}, r"TWIN_OWNER__NAMES: 'Lin' is not valid JSON"),
    ({"TWIN_DATASET__SESSION_GAP_MINUTES": "5"}, r"dataset\.session_gap_minutes: moved to sessions\.gap_minutes"),
])
def test_bad_environment_values_name_the_variable(tmp_path, env, expected):
    path = tmp_path / "twin.toml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_config(path, env=env)


def test_moved_keys_in_the_file_still_point_to_their_new_place(tmp_path):
    path = tmp_path / "twin.toml"
    path.write_text("[memory]\nsession_gap_minutes = 30\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{path.name}: memory\.session_gap_minutes: moved to sessions\.gap_minutes"):
        load_config(path, env={})
