"""Pure builders for one Istio mesh over several clusters (no Pulumi imports): what
each cluster gets (`plan`), the Helm values (`values`), the Istio and Kubernetes
object bodies (`objects`, `secrets`), the order they come up in (`graph`) and the
offline checks MC101–MC116 (`checks`, `check_services`)."""
