"""A single-file Django application (settings, URLs and views in one module).

Run it with:  cargo run -p step02-wsgi --features python -- --wsgi djangoapp:app
"""

import sys

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

settings.configure(
    DEBUG=False,
    SECRET_KEY="stepwise-demo-only-not-secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    # 1 MiB bodies, as the server allows.
    DATA_UPLOAD_MAX_MEMORY_SIZE=2 * 1024 * 1024,
)


def hello_world(request):
    return HttpResponse("Hello world from Django!\n", content_type="text/plain")


def hello(request, name):
    return JsonResponse({"greeting": "Hello, %s!" % name})


@csrf_exempt
def form(request):
    if request.method == "POST":
        text = "Thank you, %s (%d bytes)\n" % (request.POST.get("name", "stranger"), len(request.body))
        return HttpResponse(text, content_type="text/plain")
    return HttpResponse('<form method="post"><input name="name"><button>Send</button></form>\n')


@csrf_exempt
def upload(request):
    return HttpResponse("received %d bytes\n" % len(request.body), content_type="text/plain")


urlpatterns = [
    path("", hello_world),
    path("hello/<str:name>", hello),
    path("form", form),
    path("upload", upload),
]

app = get_wsgi_application()
