#!/bin/sh
# The header block, an empty line, then the page. printf, because what echo does with
# backslashes differs from shell to shell.
printf 'Content-Type: text/html; charset=utf-8\r\n\r\n'
cat <<'HTML'
<!doctype html>
<title>CGI on Hangar</title>
<h1>Hello from CGI!</h1>
<p>Try <a href="/hello?name=you">/hello?name=you</a>.</p>
HTML
