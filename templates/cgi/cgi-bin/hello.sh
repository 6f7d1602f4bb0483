#!/bin/sh
# The query string is in QUERY_STRING. Only letters and digits are taken from it, so nothing a
# client sends ends up in the output as markup or in the shell as code.
name=$(printf '%s\n' "${QUERY_STRING:-}" | tr '&' '\n' | sed -n 's/^name=\([A-Za-z0-9]\{1,40\}\)$/\1/p' | head -n 1)
[ -n "$name" ] || name=world

# stderr is a log line of this request (`hangar logs`, and the `hangar dev` terminal).
echo "greeting $name" >&2

printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
printf 'Hello, %s!\n' "$name"
