"""Emulators: launchers for gcloud's Pub/Sub and Firestore and moto, and our carrier emulator."""
