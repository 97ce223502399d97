"""Survey sessions: guided capture into the journal, survey files, the protocol report."""
