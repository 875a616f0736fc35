"""Infrastructure: where the project lives, its Airflow connections, the database and its schema."""
