"""The read side: KPI gauges built at scrape time, operations metrics, consumer lag and health."""
