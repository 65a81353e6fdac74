"""bctl token: JWTs for the REST API, checked with PyJWT (Debian's python3-jwt), a client library
that knows nothing about pgbalancer."""
import os
import subprocess
import time

import jwt
import pytest

from conftest import BCTL_BIN as BCTL
SECRET = "integration-test-secret-at-least-32-bytes"


def bctl(*args):
    return subprocess.run([BCTL, *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_token_verifies_with_pyjwt(role):
    before = int(time.time())
    out = bctl("token", "--jwt-secret", SECRET, "--role", role, "--ttl", "15m", "--subject", "ops")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["role"] == role
    assert claims["sub"] == "ops"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, SECRET + "x", algorithms=["HS256"])


def test_generate_token_alias_and_secret_file(tmp_path):
    secret_file = tmp_path / "jwt.secret"
    secret_file.write_text(SECRET + "\n")  # as `echo ... > file` writes it
    os.chmod(secret_file, 0o600)
    out = bctl("--generate-token", "--jwt-secret-file", str(secret_file))
    assert out.returncode == 0, out.stderr
    claims = jwt.decode(out.stdout.strip(), SECRET, algorithms=["HS256"])
    assert claims["role"] == "viewer"  # the default: least privilege
    assert claims["exp"] - claims["iat"] == 3600


def test_short_secret_is_refused_without_echoing_it():
    out = bctl("token", "--jwt-secret", "too-short-secret")
    assert out.returncode == 1
    assert "at least 32" in out.stderr
    assert "too-short-secret" not in out.stderr + out.stdout
    assert out.stdout == ""


@pytest.mark.parametrize("args", [
    ["token", "--jwt-secret", SECRET, "--role", "root"],
    ["token", "--jwt-secret", SECRET, "--ttl", "0"],
    ["token", "--jwt-secret", SECRET, "--ttl", "5x"],
    ["token", "--jwt-secret", SECRET, "--ttl", "400d"],
    ["token"],
    ["token", "--jwt-secret", SECRET, "--jwt-secret-file", "/dev/null"],
    ["no-such-command"],
    [],
])
def test_usage_errors_exit_2(args):
    out = bctl(*args)
    assert out.returncode == 2, (args, out.stdout, out.stderr)
    assert out.stdout == "" or "Usage" in out.stdout or "Usage" in out.stderr


def test_unreadable_secret_file_exits_1(tmp_path):
    out = bctl("token", "--jwt-secret-file", str(tmp_path / "missing"))
    assert out.returncode == 1
    assert "cannot read" in out.stderr


def test_help_explains_every_option():
    out = bctl("token", "--help")
    assert out.returncode == 0
    for option in ["--jwt-secret", "--jwt-secret-file", "--role", "--ttl", "--subject"]:
        assert option in out.stdout
