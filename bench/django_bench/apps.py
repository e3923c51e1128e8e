from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "bench.django_bench"
    label = "django_bench"

    def ready(self) -> None:
        from echo.broadcast.channels import declare_channel
        from echo.broadcast.rules import anyone

        from .views import BenchTick

        declare_channel("bench-{run}", BenchTick, description="Benchmark ticks (bench/).", read=anyone)
