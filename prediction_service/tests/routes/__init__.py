"""Tests of prediction_service.routes, one module per router (a package: its module
names must not collide with the test modules of other packages)."""
