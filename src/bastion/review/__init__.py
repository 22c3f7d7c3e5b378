"""Human review of answers: confidence scores (:mod:`.confidence`) and the review
service (:mod:`.service`) behind the step (:mod:`bastion.steps.review`), the queue
(:mod:`bastion.stores.review`), the admin API, the dashboard and the clients' polls."""
