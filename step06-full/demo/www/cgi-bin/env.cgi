#!/bin/sh
# Prints the CGI meta-variables this script was run with, and the request
# body it was given, as plain text. Try:
#   curl 'http://127.0.0.1:8080/cgi-bin/env.cgi/extra/path?x=1'
#   curl --data 'name=Ann' http://127.0.0.1:8080/cgi-bin/env.cgi
printf 'Content-Type: text/plain; charset=utf-8\r\n\r\n'
echo "CGI environment of $0 (pid $$):"
echo
env | LC_ALL=C sort
if [ -n "$CONTENT_LENGTH" ]; then
    echo
    echo "Request body ($CONTENT_LENGTH bytes):"
    head -c "$CONTENT_LENGTH"
    echo
fi
