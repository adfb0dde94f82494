from motia import StreamConfig

config = StreamConfig(name="order_events", description="Order state changes, for dashboards")
