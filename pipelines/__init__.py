"""Marketing Pulse orchestration: Dagster definitions, jobs, schedules, sensors and the `mpulse` CLI."""

import warnings

import dagster as dg

# BackfillPolicy.single_run is what lets one run cover a day range; it is marked beta in Dagster 1.13.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)
