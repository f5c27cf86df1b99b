"""Everything salesfloor needs from Kafka beyond the public APIs of Faust and aiokafka: patches, private
reaches, the bulk-restored store, buffered changelog writes, gap repair and one read-to-end helper."""
