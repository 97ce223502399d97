"""The central survey archive: two technicians' machines send protocols to one broker, once per survey id.

Laptop ``qc-1`` sends to the central broker directly (JSON and PDF); laptop
``qc-2`` to its own local broker, bridged to the centre with docs/fleet.md's
bridge configuration. Real mosquitto, the real CLI, real Chromium for the PDF,
pdftotext to read it back.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from radsurvey.daemon.survey.archive import canonical_sha256
from tests.fleet_sites import bridge_config
from tests.integration.sinks.helpers import MqttRecorder, wait_for
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RADSURVEY = str(Path(sys.executable).parent / "radsurvey")
WORKED_EXAMPLE = REPO / "protocols" / "examples" / "worked-example.json"


class Laptop:
    """A technician's machine: its own survey journal and a config naming its site and broker."""

    def __init__(self, work: Path, site: str, mqtt_port: int):
        self.work, self.site = work, site
        work.mkdir()
        self.config = work / "radsurvey.toml"
        self.config.write_text(
            f'[site]\nid = "{site}"\n\n[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nconnect_timeout_s = 3.0\n',
            encoding="utf-8",
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "RADSURVEY_SURVEY_JOURNAL": str(self.work / "surveys.sqlite"), "NO_COLOR": "1"}
        return subprocess.run([RADSURVEY, *args], capture_output=True, text=True, timeout=120, env=env, cwd=self.work)

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        return done.stdout


def without_render_time(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "generated_at"}


async def retained_archive(port: int, expect: int) -> dict[str, bytes]:
    async with MqttRecorder(port, topic="radsurvey/+/surveys/+/protocol/#") as fresh:
        await wait_for(lambda: len(fresh.messages) >= expect, 15, f"{expect} archived messages")
        assert all(m.retain and m.qos == 1 for m in fresh.messages)
        return {m.topic: m.payload for m in fresh.messages}


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
async def test_two_machines_archive_their_protocols_centrally_once_per_survey_id(tmp_path: Path) -> None:
    central = Mosquitto(tmp_path / "central")
    local = Mosquitto(tmp_path / "local", extra_config=bridge_config(central.port))
    central.start()
    local.start()
    try:
        qc1 = Laptop(tmp_path / "qc-1", "qc-1", central.port)
        qc2 = Laptop(tmp_path / "qc-2", "qc-2", local.port)
        await asyncio.to_thread(qc1.ok, "survey", "import", str(WORKED_EXAMPLE), "--id", "S-1")
        await asyncio.to_thread(qc2.ok, "survey", "import", str(WORKED_EXAMPLE), "--id", "S-2")

        async with MqttRecorder(central.port, topic="radsurvey/+/surveys/+/protocol") as collector:
            out = await asyncio.to_thread(qc1.ok, "survey", "archive", "--config", str(qc1.config), "--pdf")
            assert out.startswith("S-1: archived on radsurvey/qc-1/surveys/S-1/protocol, PDF ")
            assert await asyncio.to_thread(qc2.ok, "survey", "archive", "S-2", "--config", str(qc2.config)) == (
                "S-2: archived on radsurvey/qc-2/surveys/S-2/protocol\n"
            )
            archive = await retained_archive(central.port, 3)
            assert sorted(archive) == [
                "radsurvey/qc-1/surveys/S-1/protocol",
                "radsurvey/qc-1/surveys/S-1/protocol/pdf",
                "radsurvey/qc-2/surveys/S-2/protocol",
            ]

            # Sent again: the same slot, the same document; the archive still holds one per survey.
            await asyncio.to_thread(qc1.ok, "survey", "archive", "S-1", "--config", str(qc1.config), "--pdf")
            await wait_for(lambda: len(collector.messages) == 3, 15, "the second send of S-1")
            again = await retained_archive(central.port, 3)
            assert sorted(again) == sorted(archive)

        first, second = (json.loads(m.payload) for m in collector.messages if m.topic.endswith("/S-1/protocol"))
        assert first["document_sha256"] == second["document_sha256"], "the same survey, the same hash"

        for laptop, sid in ((qc1, "S-1"), (qc2, "S-2")):
            doc = json.loads(archive[f"radsurvey/{laptop.site}/surveys/{sid}/protocol"])
            assert (doc["schema"], doc["site"], doc["survey"]) == ("radsurvey.archive/1", laptop.site, sid)
            exported = json.loads(await asyncio.to_thread(laptop.ok, "survey", "export", sid))
            assert doc["survey_document"] == exported
            assert doc["document_sha256"] == canonical_sha256(exported)
            report = json.loads(await asyncio.to_thread(laptop.ok, "report", sid, "--format", "json"))
            assert without_render_time(doc["report"]) == without_render_time(report)

        s1 = json.loads(archive["radsurvey/qc-1/surveys/S-1/protocol"])
        pdf = archive["radsurvey/qc-1/surveys/S-1/protocol/pdf"]
        assert s1["pdf"] == {
            "topic": "radsurvey/qc-1/surveys/S-1/protocol/pdf",
            "bytes": len(pdf),
            "sha256": hashlib.sha256(pdf).hexdigest(),
        }
        assert pdf.startswith(b"%PDF-")
        (tmp_path / "s1.pdf").write_bytes(pdf)
        text = (
            await asyncio.to_thread(
                subprocess.run, ["pdftotext", str(tmp_path / "s1.pdf"), "-"], capture_output=True, text=True,
                timeout=60, check=True,
            )
        ).stdout  # fmt: skip
        assert all(point in text for point in ("R1", "S1", "A1"))
        assert json.loads(archive["radsurvey/qc-2/surveys/S-2/protocol"])["pdf"] is None
    finally:
        local.stop()
        central.stop()


def test_an_archive_the_broker_does_not_take_fails_with_one_line_and_can_be_sent_again(tmp_path: Path) -> None:
    nobody = Mosquitto(tmp_path / "never-started")
    laptop = Laptop(tmp_path / "qc", "qc", nobody.port)
    laptop.ok("survey", "import", str(WORKED_EXAMPLE), "--id", "S-9")
    done = laptop.run("survey", "archive", "--config", str(laptop.config), "--timeout", "5")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"radsurvey: error: cannot archive to 127.0.0.1:{nobody.port}: ")
    assert line.endswith("nothing was lost: run the same command again")


def test_a_config_without_mqtt_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    laptop = Laptop(tmp_path / "qc", "qc", 1)
    laptop.config.write_text('[site]\nid = "qc"\n\n[influxdb]\nurl = "http://127.0.0.1:1"\n', encoding="utf-8")
    laptop.ok("survey", "import", str(WORKED_EXAMPLE), "--id", "S-9")
    done = laptop.run("survey", "archive", "--config", str(laptop.config))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"radsurvey: error: {laptop.config}: no enabled [mqtt] section to archive the surveys to"
    ]
