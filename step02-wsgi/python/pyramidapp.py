"""The Pyramid application of the tutorials this project grew from.

Run it with:  cargo run -p step02-wsgi --features python -- --wsgi pyramidapp:app
"""

from pyramid.config import Configurator
from pyramid.response import Response


def hello_world(request):
    return Response("Hello world from Pyramid!\n", content_type="text/plain")


def hello(request):
    return {"greeting": "Hello, %s!" % request.matchdict["name"]}


def form(request):
    if request.method == "POST":
        text = "Thank you, %s (%d bytes)\n" % (request.POST.get("name", "stranger"), request.content_length or 0)
        return Response(text, content_type="text/plain")
    return Response('<form method="post"><input name="name"><button>Send</button></form>\n')


def upload(request):
    return Response("received %d bytes\n" % len(request.body), content_type="text/plain")


with Configurator() as config:
    config.add_route("hello_world", "/")
    config.add_view(hello_world, route_name="hello_world")
    config.add_route("hello", "/hello/{name}")
    config.add_view(hello, route_name="hello", renderer="json")
    config.add_route("form", "/form")
    config.add_view(form, route_name="form")
    config.add_route("upload", "/upload", request_method="POST")
    config.add_view(upload, route_name="upload")
    app = config.make_wsgi_app()
