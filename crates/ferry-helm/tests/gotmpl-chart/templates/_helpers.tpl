{{- define "gotmpl.name" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end -}}
{{- define "gotmpl.args" -}}{{ index . 0 }}/{{ index . 1 }}{{- end -}}
{{- define "gotmpl.rec" -}}{{ if gt (int .) 0 }}{{ . }},{{ include "gotmpl.rec" (sub (int .) 1) }}{{ end }}{{- end -}}
{{- define "gotmpl.ws" }}
  spaced
{{ end }}
{{- define "gotmpl.blockdef" -}}overridden-block{{- end -}}
