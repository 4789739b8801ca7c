"""Redis keyspace and Lua scripts: seats, counters, bookings."""
