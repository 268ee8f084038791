"""The Flask application of the tutorials this project grew from.

Run it with:  cargo run -p step02-wsgi --features python -- --wsgi flaskapp:app
"""

from flask import Flask, request

app = Flask(__name__)


@app.route("/")
def hello_world():
    return "Hello world from Flask!\n"


@app.route("/hello/<name>")
def hello(name):
    return {"greeting": "Hello, %s!" % name}


@app.route("/form", methods=["GET", "POST"])
def form():
    if request.method == "POST":
        return "Thank you, %s (%d bytes)\n" % (request.form.get("name", "stranger"), request.content_length or 0)
    return '<form method="post"><input name="name"><button>Send</button></form>\n'


@app.route("/upload", methods=["POST"])
def upload():
    return "received %d bytes\n" % len(request.get_data())
