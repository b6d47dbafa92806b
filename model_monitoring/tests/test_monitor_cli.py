"""`mlops monitor` bad input through the real CLI: clear messages, documented exit codes,
nothing written."""

from __future__ import annotations

from mlops_core.services import free_port


def test_monitor_help_has_an_example(mlops, mlops_home):
    result = mlops("monitor", "--help")
    assert result.exit_code == 0
    assert "Example: mlops monitor" in result.stdout and "ui" in result.stdout
    assert "Example: mlops monitor ui" in mlops("monitor", "ui", "--help").stdout


def test_last_and_since_exclude_each_other(mlops, mlops_home):
    result = mlops("monitor", "--last", "10", "--since", "2026-11-29T00:00Z", "--json")
    assert result.exit_code == 2
    assert result.json["ok"] is False and "--last and --since" in result.json["error"]


def test_bad_times_and_windows_are_bad_input(mlops, mlops_home):
    result = mlops("monitor", "--since", "yesterday", "--json")
    assert result.exit_code == 2 and "--since: 'yesterday'" in result.json["error"]
    result = mlops("monitor", "--since", "2026-11-29T18:00Z", "--until", "2026-11-29T17:00Z")
    assert result.exit_code == 2 and "is not before --until" in result.stderr
    assert mlops("monitor", "--last", "0").exit_code == 2


def test_policy_file_errors_name_the_file(mlops, mlops_home, tmp_path, monkeypatch):
    policy = tmp_path / "strict.yaml"
    policy.write_text("drift:\n  share: -1\n")
    result = mlops("monitor", "--policy", str(policy), "--json")
    assert result.exit_code == 2 and "strict.yaml: drift.share" in result.json["error"]
    monkeypatch.setenv("MLOPS_MONITOR_POLICY", str(tmp_path / "absent.yaml"))
    result = mlops("monitor", "--json")
    assert result.exit_code == 2 and "absent.yaml: cannot be read" in result.json["error"]


def test_unreachable_report_store_fails_before_any_work(mlops, mlops_home, monkeypatch):
    monkeypatch.setenv("MLOPS_REPORT_STORE", "s3://reports/monitoring")
    monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    result = mlops("monitor", "--json")
    assert result.exit_code == 5
    assert "report store s3://reports" in result.json["error"]
    assert "not reachable" in result.json["error"]
    assert not (mlops_home / "monitoring").exists()


def test_retrain_options_need_the_trigger(mlops, mlops_home):
    result = mlops("monitor", "--synthetic", "100", "--json")
    assert result.exit_code == 2 and "--trigger-retrain" in result.json["error"]


def test_missing_prediction_log_is_bad_input_and_creates_nothing(mlops, mlops_home):
    result = mlops("monitor", "--json")
    assert result.exit_code == 2 and "predictions.db does not exist" in result.json["error"]
    assert not (mlops_home / "predictions.db").exists()


def test_mlops_up_has_the_evidently_ui_among_its_services(mlops, mlops_home):
    from mlops_core import embedded
    from model_monitoring.ui import up_hook

    assert mlops("--help").exit_code == 0
    assert up_hook in embedded.UP_HOOKS


def test_stopping_a_ui_that_is_not_running_says_so_in_the_contract(mlops, mlops_home):
    from mlops_core.contracts import read_result
    from mlops_core.contracts.monitor import MonitorUiResult

    result = mlops("monitor", "ui", "--stop", "--json")
    assert result.exit_code == 0
    parsed = read_result(result.stdout, MonitorUiResult)
    assert parsed.stopped is False and parsed.service == "evidently-ui" and parsed.url is None
