"""The README's "Channels" section, as a broker would use it: its airflow_settings.yaml entries load through
``campaigns settings load``'s reader into valid adapter settings, and its ``export`` line, run verbatim in a
shell, is a connection the twilio adapter accepts."""

from __future__ import annotations

import re
import subprocess
import sys

from include.campaigns.channels.registry import BUILTIN, adapter_settings
from include.campaigns.channels.smtp_adapter import SmtpSettings
from include.campaigns.channels.twilio_settings import TwilioSettings
from include.campaigns.channels.unsubscribe import UnsubscribeLinks
from include.campaigns.infra.airflow_settings import read_settings
from include.campaigns.infra.connections import ConnectionSettings, parse_extra
from include.campaigns.infra.paths import PROJECT_ROOT

PLACEHOLDERS = {"<the SMTP password>": "pw", "<a random secret of 16+ characters>": "s" * 24,
                "<Account SID, AC...>": "AC" + "0" * 32, "<Auth Token>": "token"}


def channels_section() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text()
    return readme.split("## Channels\n", 1)[1].split("\n## ", 1)[0]


def test_the_yaml_entries_are_valid_connections(tmp_path):
    [block] = re.findall(r"```yaml\n(.*?)```", channels_section(), re.S)
    for placeholder, value in PLACEHOLDERS.items():
        block = block.replace(placeholder, value)
    settings_file = tmp_path / "airflow_settings.yaml"
    settings_file.write_text("airflow:\n  connections:\n" + block)
    conns = {c["conn_id"]: c for c in read_settings(settings_file)["connections"]}
    assert set(conns) == {"channel_email", "campaigns_unsubscribe", "channel_sms"}

    def settings(c):
        return adapter_settings(ConnectionSettings(c["conn_id"], c["conn_type"], c.get("conn_host"), c.get("conn_port"),
                                                   None, c.get("conn_login"), c.get("conn_password"),
                                                   parse_extra(c["conn_id"], c.get("conn_extra"))))

    email = settings(conns["channel_email"])
    assert BUILTIN[email["extra"]["adapter"]].__name__ == "SmtpAdapter"
    assert SmtpSettings.parse(email).starttls
    unsub = conns["campaigns_unsubscribe"]
    UnsubscribeLinks.from_settings(unsub["conn_id"], unsub["conn_password"], unsub["conn_extra"])
    sms = TwilioSettings.parse("sms", settings(conns["channel_sms"]))
    assert sms.status_callback() == "https://campaigns.example.com/api/v1/webhooks/twilio/status"


def test_the_export_line_works_verbatim():
    [block] = re.findall(r"```bash\n(.*?)```", channels_section(), re.S)
    probe = ("from include.campaigns.infra.connections import lookup; "
             "from include.campaigns.channels.registry import adapter_settings; "
             "from include.campaigns.channels.twilio_settings import TwilioSettings; "
             "c = lookup('channel_whatsapp'); s = TwilioSettings.parse('whatsapp', adapter_settings(c)); "
             "print(c.extra['adapter'], s.sender, s.sender_for(2), s.address('+5215512345678'))")
    done = subprocess.run(["bash", "-c", f"{block}\n{sys.executable} -c \"{probe}\""], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["twilio", "whatsapp:+14155238886", "whatsapp:+5215550001111",
                                   "whatsapp:+5215512345678"]
