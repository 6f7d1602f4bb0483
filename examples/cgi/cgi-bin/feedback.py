#!/usr/bin/env python3
"""A form handler: GET shows the form, POST reads it from stdin and answers 303 back to it."""
import html
import os
import sys
from urllib.parse import parse_qs

if os.environ["REQUEST_METHOD"] == "POST":
    fields = parse_qs(sys.stdin.read(int(os.environ.get("CONTENT_LENGTH") or 0)))
    text = fields.get("text", [""])[0][:500]
    print(f"feedback: {text}", file=sys.stderr)  # its log line, under this request
    sys.stdout.write("Status: 303 See Other\r\nLocation: /feedback?thanks=1\r\n")
    sys.stdout.write("Content-Type: text/plain\r\n\r\nthanks\n")
else:
    thanks = "thanks" in parse_qs(os.environ.get("QUERY_STRING", ""))
    sys.stdout.write("Content-Type: text/html; charset=utf-8\r\n\r\n")
    sys.stdout.write("<!doctype html><title>Feedback</title><h1>Feedback</h1>")
    if thanks:
        sys.stdout.write("<p>" + html.escape("Thanks, it is in the log.") + "</p>")
    sys.stdout.write('<form method=post><textarea name=text></textarea><button>Send</button></form>\n')
