"""``prmon fakehub serve --webhook-url …``: the secret from $PRMON_WEBHOOK_SECRET only (never
argv, never printed), the hook kind and content type from flags, faults from flags; and the
standalone server delivering its ticking world's changes to a receiver over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import time

import pytest

from prmon_pipeline.fakehub import serve
from prmon_pipeline.fakehub.server import argument_parser, hub_config, webhook_summary
from prmon_pipeline.fakehub.webhook_faults import WebhookFaultSpec
from prmon_pipeline_tests.fakehub.webhook_receiver import Receiver

SECRET = "not-in-argv"


def test_flags_configure_the_hook_and_the_secret_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRMON_WEBHOOK_SECRET", SECRET)
    args = argument_parser().parse_args(
        [
            "--webhook-url",
            "http://127.0.0.1:8787/webhooks/github",
            "--webhook-kind",
            "org",
            "--webhook-content-type",
            "form",
            "--webhook-fault",
            "drop:0.02",
            "--fault-seed",
            "5",
        ]
    )
    config = hub_config(args)
    [spec] = config.webhooks
    assert (spec.kind, spec.content_type, spec.secret) == ("org", "form", SECRET)
    assert config.webhook_faults == (WebhookFaultSpec("drop", rate=0.02),)
    assert config.fault_seed == 5
    summary = "\n".join(webhook_summary(config))
    assert "signed" in summary and SECRET not in summary and SECRET not in repr(spec)


def test_without_a_secret_the_summary_says_unsigned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRMON_WEBHOOK_SECRET", raising=False)
    args = argument_parser().parse_args(["--webhook-url", "http://127.0.0.1:1/x"])
    config = hub_config(args)
    assert config.webhooks[0].secret is None
    assert "UNSIGNED" in webhook_summary(config)[0]
    assert hub_config(argument_parser().parse_args([])).webhooks == ()


@pytest.mark.servers
def test_standalone_server_delivers_its_worlds_changes() -> None:
    receiver = Receiver()
    with serve(receiver.app) as receiver_url:
        env = dict(os.environ, PRMON_WEBHOOK_SECRET=SECRET)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "prmon_pipeline.fakehub",
                "--repos=1",
                "--prs=10",
                "--tick=0.2",
                "--speed=3600",
                f"--webhook-url={receiver_url}/webhooks/github",
                "--webhook-kind=org",
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            banner = [proc.stdout.readline() for _ in range(7)]
            deadline = time.monotonic() + 20
            while len(receiver.of("pull_request")) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
    assert not any(SECRET in line for line in banner)
    assert any("webhooks: org hook" in line for line in banner)
    got = receiver.of("pull_request")
    assert len(got) >= 2
    for received in got:
        digest = hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
        assert received.headers["x-hub-signature-256"] == f"sha256={digest}"
