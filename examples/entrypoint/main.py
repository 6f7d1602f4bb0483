"""A guestbook form on Python's wsgiref, as an entrypoint app: it listens on $PORT and knows
nothing of Hangar beyond App Engine's conventions (the X-Appengine-Request-Log-Id header and
structured JSON log lines on stdout)."""
import html
import json
import os
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

entries = []  # This instance's memory: another instance has its own.


def log(environ, severity, message):
    # One JSON line on stdout: Hangar files it under the request whose id it names.
    print(json.dumps({"severity": severity, "message": message,
                      "requestId": environ.get("HTTP_X_APPENGINE_REQUEST_LOG_ID")}), flush=True)


def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = parse_qs(environ["wsgi.input"].read(size).decode())
        name = form.get("name", ["someone"])[0][:100]
        entries.append(name)
        log(environ, "INFO", f"signed by {name}")
        start_response("303 See Other", [("Location", "/")])
        return [b""]
    items = "".join(f"<li>{html.escape(n)}</li>" for n in entries)
    body = f"""<!doctype html><title>Guestbook</title><link rel=stylesheet href=/static/style.css>
<h1>Guestbook</h1><ul>{items}</ul>
<form method=post><input name=name placeholder="your name"><button>Sign</button></form>"""
    log(environ, "DEBUG", f"{len(entries)} entries shown")
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body.encode()]


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass  # Hangar's request log has every request already.


make_server("127.0.0.1", int(os.environ["PORT"]), app, handler_class=QuietHandler).serve_forever()
