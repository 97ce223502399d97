"""A survey plan that answers every question of the survey header, for tests that drive the real terminal."""

PLAN = """\
schema = "radsurvey.survey/1"
protocol = "kz-2008-303"
apparatus = "radiography"
background_compensated = false
options = { formula3 = "literal" }

[metadata]
protocol_number = "E2E-1"
reason = "acceptance"
[metadata.facility]
name = "Test clinic"
address = "1 Test street"
department = "Radiology"
room = "101"
radiation_work_code = ""
[metadata.apparatus]
type = "general_diagnostic"
manufacturer = "ACME"
model = "R-1"
serial = "SN-1"
tube_serial = "T-1"
regulatory_id = ""
sanitary_conclusion = "No. 1 of 2026-01-01"
[metadata.representative]
name = "C. Representative"
position = "head of department"
[metadata.conditions]
filter = "2.5 mm Al"
exposure = "fluoroscopy, 5 s"
phantom = "water, 250 x 250 x 150 mm"
field_size = "180 x 180 mm"
table_position = "horizontal"
[[metadata.performed_by]]
name = "A. Technician"
[[metadata.instruments]]
model = "DKS-1"
serial = "42"
energy_min_keV = 15
energy_max_keV = 3000
dose_rate_min_uGy_h = 0.1
dose_rate_max_uGy_h = 1000
error_percent = 15
certificate_number = "VC-1"
certificate_expires = "2099-01-01"
"""


def with_background(plan: str, readings_uGy_h: list[float]) -> str:
    """``plan`` with the background readings given (they go before the first table)."""
    head, tables = plan.split("\n[metadata]\n", 1)
    return f"{head}background_uGy_h = {readings_uGy_h!r}\n\n[metadata]\n{tables}"
