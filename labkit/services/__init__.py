"""The two services: business logic between kafka/ and store/."""
