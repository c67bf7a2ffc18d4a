"""The Prometheus rules file (promtool check/test, metric names smsflow exports) and the
documented alert thresholds (infra/alerts.toml equals AlertRules' defaults)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from shell.alerting import Alerting
from smsflow.config import AlertRules, Settings

INFRA = Path(__file__).resolve().parents[2] / "infra"
RULES = INFRA / "prometheus" / "smsflow-rules.yml"


def _promtool() -> str:
    path = shutil.which("promtool")
    # no skip: CI installs it (.ci/run); a machine without it must say so, not pass silently
    assert path, "promtool missing: apt-get install -y prometheus (Debian)"
    return path


def test_promtool_check_rules() -> None:
    run = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_promtool_rule_tests() -> None:
    run = subprocess.run([_promtool(), "test", "rules", "smsflow-rules.test.yml"],
                         capture_output=True, text=True, timeout=60, cwd=RULES.parent)
    assert run.returncode == 0, run.stdout + run.stderr


def test_rules_use_metrics_smsflow_exports(tmp_path: Path) -> None:
    from shell.ops import OpsState, _Collector

    registry = CollectorRegistry()
    alerting = Alerting(Settings(home=tmp_path), ch=None)  # type: ignore[arg-type]
    registry.register(alerting)  # type: ignore[arg-type]
    state = OpsState(settings=Settings(home=tmp_path), ch=None, groups={})  # type: ignore[arg-type]
    registry.register(_Collector(state))  # type: ignore[arg-type]
    types = re.findall(r"^# TYPE (\w+) (\w+)", generate_latest(registry).decode(), re.M)
    exported = {name for name, _ in types} | {f"{n}_total" for n, kind in types
                                              if kind == "counter"}  # a counter's sample
    used = set(re.findall(r"\b(smsflow_\w+)", RULES.read_text()))
    assert used and used <= exported, used - exported


def test_documented_thresholds_are_the_defaults() -> None:
    doc = tomllib.loads((INFRA / "alerts.toml").read_text())
    assert AlertRules(**doc) == AlertRules()
    assert set(doc) == set(AlertRules.model_fields)


def test_alerts_file_overrides(tmp_path: Path) -> None:
    f = tmp_path / "alerts.toml"
    f.write_text('window_s = 600\ndelivery_drop = "0.5"\n')
    rules = Settings(home=tmp_path, alerts_file=f).alert_rules
    assert rules.window_s == 600 and str(rules.delivery_drop) == "0.5"
    assert rules.interval_s == AlertRules().interval_s
    f.write_text("no_such_key = 1\n")
    with pytest.raises(ValueError, match="no_such_key"):
        _ = Settings(home=tmp_path, alerts_file=f).alert_rules
