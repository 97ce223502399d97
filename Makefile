# The two commands of the README. Both set up everything they need first.
.PHONY: demo test

demo:  ## run the daemon on the simulated meter, journal in ./radsurvey-demo.sqlite (Ctrl-C stops it)
	scripts/bootstrap.sh
	.venv/bin/radsurvey run --config config/examples/demo.toml

test:  ## install test tools and servers, then run the whole test suite
	scripts/bootstrap.sh --test
	.venv/bin/pytest
