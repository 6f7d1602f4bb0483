#!/bin/sh
# A shell script: the header block, an empty line, then the page.
printf 'Content-Type: text/html; charset=utf-8\n\n'
cat <<HTML
<!doctype html><title>CGI on Hangar</title>
<h1>CGI on Hangar</h1>
<ul>
  <li><a href="/hello?name=Perl">/hello</a> (Perl)</li>
  <li><a href="/feedback">/feedback</a> (a Python form)</li>
</ul>
<p>Served by $SERVER_SOFTWARE for request $REQUEST_LOG_ID.</p>
HTML
