#!/bin/sh
# Starts Alertmanager in docker compose: fills the ${VARIABLES} of
# alertmanager.yml from the environment (the compose file's .env), since
# Alertmanager reads none, writes the result to /tmp (a tmpfs: the password
# never lands on a disk), and runs Alertmanager on it with the arguments
# given. A variable that is not set is an error, not an empty address.
# .ci/run runs it with ALERTMANAGER=true and checks the result with amtool.
set -eu
here=$(dirname "$0")
out=${ALERTMANAGER_CONFIG:-/tmp/alertmanager.yml}
awk '{
	line = $0
	while (match(line, /\$\{[A-Z_][A-Z0-9_]*\}/)) {
		name = substr(line, RSTART + 2, RLENGTH - 3)
		if (!(name in ENVIRON) || ENVIRON[name] == "") {
			printf "alertmanager: %s is not set: give it a value in .env\n", name > "/dev/stderr"
			exit 1
		}
		value = ENVIRON[name]
		gsub(/\047/, "\047\047", value)   # a quote in a single-quoted YAML value is doubled
		printf "%s%s", substr(line, 1, RSTART - 1), value
		line = substr(line, RSTART + RLENGTH)
	}
	print line
}' "$here/alertmanager.yml" >"$out"
exec "${ALERTMANAGER:-/bin/alertmanager}" --config.file="$out" "$@"
