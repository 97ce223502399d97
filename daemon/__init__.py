"""The radsurvey runtime: CLI, supervisor, pipeline, journal, sinks, alarms, surveys."""
