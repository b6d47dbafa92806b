def test_version(mlops):
    result = mlops("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("mlops ")


def test_help_lists_commands(mlops):
    result = mlops("--help")
    assert result.exit_code == 0
    for command in ("up", "down", "status", "mlflow"):
        assert command in result.stdout


def test_unknown_command_is_a_usage_error(mlops):
    assert mlops("no-such-command").exit_code == 2


def test_status_json_with_nothing_running(mlops, mlops_home):
    result = mlops("status", "--json")
    assert result.exit_code == 0
    assert result.json == {"ok": True, "home": str(mlops_home), "services": []}


def test_mlflow_up_refuses_external_tracking_uri(mlops, mlops_home, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://example.invalid:5000")
    result = mlops("mlflow", "up", "--json")
    assert result.exit_code == 2
    assert "external server" in result.json["error"]


def test_down_of_a_service_that_is_not_running(mlops, mlops_home):
    result = mlops("mlflow", "down", "--json")
    assert result.exit_code == 0
    assert result.json == {"ok": True, "service": "mlflow", "stopped": False}
    text = mlops("mlflow", "down")
    assert "MLflow was not running" in text.stdout + text.stderr
