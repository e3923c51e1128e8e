from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "django_bench"

    def ready(self) -> None:
        from echo.broadcast.channels import declare_channel
        from echo.broadcast.rules import anyone

        from .views import BenchTick

        # The bench's channels are named bench-<something>; each carries the bench's tick, read by
        # anyone (as a public channel of a site is).
        declare_channel("bench-{run}", BenchTick, description="Benchmark ticks (bench/).", read=anyone)
